// The ABI structs as the BPF compiler laid them out (BTF of the built http.bpf.o) must
// match the C++ compiler's layout member by member: a field added, reordered or padded
// differently on one side fails here instead of corrupting events at run time.
#include <bpf/btf.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <memory>
#include <string>

#include "events.hpp"

#ifndef HTTP_BPF_OBJECT
#error "HTTP_BPF_OBJECT must name the built http.bpf.o"
#endif

namespace {

struct Layout {
    std::size_t size;
    std::map<std::string, std::size_t> offsets;
};

#define MEMBER(S, f) {#f, offsetof(S, f)}

const std::map<std::string, Layout>& cpp_layouts() {
    static const std::map<std::string, Layout> l = {
        {"hs_event_header",
         {sizeof(hs_event_header),
          {MEMBER(hs_event_header, kind), MEMBER(hs_event_header, size), MEMBER(hs_event_header, abi_version),
           MEMBER(hs_event_header, ktime_ns)}}},
        {"hs_http_exchange",
         {sizeof(hs_http_exchange),
          {MEMBER(hs_http_exchange, hdr), MEMBER(hs_http_exchange, req_start_ns),
           MEMBER(hs_http_exchange, resp_start_ns), MEMBER(hs_http_exchange, cgroup_id),
           MEMBER(hs_http_exchange, sock_cookie), MEMBER(hs_http_exchange, req_bytes),
           MEMBER(hs_http_exchange, tgid), MEMBER(hs_http_exchange, status), MEMBER(hs_http_exchange, method),
           MEMBER(hs_http_exchange, role), MEMBER(hs_http_exchange, flags), MEMBER(hs_http_exchange, family),
           MEMBER(hs_http_exchange, path_len), MEMBER(hs_http_exchange, local_port),
           MEMBER(hs_http_exchange, remote_port), MEMBER(hs_http_exchange, local_addr),
           MEMBER(hs_http_exchange, remote_addr), MEMBER(hs_http_exchange, comm), MEMBER(hs_http_exchange, path)}}},
        {"hs_listen_event",
         {sizeof(hs_listen_event),
          {MEMBER(hs_listen_event, hdr), MEMBER(hs_listen_event, cgroup_id), MEMBER(hs_listen_event, tgid),
           MEMBER(hs_listen_event, port), MEMBER(hs_listen_event, family), MEMBER(hs_listen_event, _pad0),
           MEMBER(hs_listen_event, comm)}}},
    };
    return l;
}

// Structs of bpf/proc.bpf.c, checked against proc.bpf.o.
const std::map<std::string, Layout>& cpp_proc_layouts() {
    static const std::map<std::string, Layout> l = {
        {"hs_proc_event",
         {sizeof(hs_proc_event),
          {MEMBER(hs_proc_event, hdr), MEMBER(hs_proc_event, cgroup_id), MEMBER(hs_proc_event, cpu_ns),
           MEMBER(hs_proc_event, tgid), MEMBER(hs_proc_event, ppid), MEMBER(hs_proc_event, exit_code),
           MEMBER(hs_proc_event, _pad0), MEMBER(hs_proc_event, comm)}}},
        {"hs_oom_event",
         {sizeof(hs_oom_event),
          {MEMBER(hs_oom_event, hdr), MEMBER(hs_oom_event, cgroup_id), MEMBER(hs_oom_event, memcg_id),
           MEMBER(hs_oom_event, rss_pages), MEMBER(hs_oom_event, tgid), MEMBER(hs_oom_event, uid),
           MEMBER(hs_oom_event, comm)}}},
        {"hs_tcp_event",
         {sizeof(hs_tcp_event),
          {MEMBER(hs_tcp_event, hdr), MEMBER(hs_tcp_event, cgroup_id), MEMBER(hs_tcp_event, tgid),
           MEMBER(hs_tcp_event, local_port), MEMBER(hs_tcp_event, remote_port), MEMBER(hs_tcp_event, kind),
           MEMBER(hs_tcp_event, family), MEMBER(hs_tcp_event, segs), MEMBER(hs_tcp_event, _pad0), MEMBER(hs_tcp_event, comm)}}},
    };
    return l;
}

void expect_layouts_match(const char* object, const std::map<std::string, Layout>& layouts) {
    btf* btf_ = btf__parse_elf(object, nullptr);
    ASSERT_NE(btf_, nullptr) << "cannot read BTF from " << object;
    std::unique_ptr<btf, void (*)(btf*)> guard(btf_, btf__free);
    for (const auto& [name, cpp] : layouts) {
        SCOPED_TRACE(name);
        int id = btf__find_by_name_kind(btf_, name.c_str(), BTF_KIND_STRUCT);
        ASSERT_GT(id, 0) << name << " is not in the BPF object's BTF";
        const btf_type* t = btf__type_by_id(btf_, id);
        EXPECT_EQ(t->size, cpp.size);
        ASSERT_EQ(btf_vlen(t), cpp.offsets.size()) << "member count differs";
        const btf_member* m = btf_members(t);
        for (int i = 0; i < btf_vlen(t); ++i) {
            std::string member = btf__name_by_offset(btf_, m[i].name_off);
            auto it = cpp.offsets.find(member);
            ASSERT_NE(it, cpp.offsets.end()) << "BPF-side member " << member << " unknown to C++";
            EXPECT_EQ(btf_member_bit_offset(t, i), it->second * 8) << member;
        }
    }
}

TEST(AbiLayout, EveryStructMatchesMemberByMember) { expect_layouts_match(HTTP_BPF_OBJECT, cpp_layouts()); }

TEST(AbiLayout, ProcStructsMatchMemberByMember) { expect_layouts_match(PROC_BPF_OBJECT, cpp_proc_layouts()); }

} // namespace
