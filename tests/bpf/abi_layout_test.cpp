// The ABI structs as the BPF compiler laid them out (BTF of the built http.bpf.o) must
// match the C++ compiler's layout member by member: a field added, reordered or padded
// differently on one side fails here instead of corrupting events at run time.
#include <bpf/btf.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <map>
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

class AbiLayout : public ::testing::Test {
protected:
    void SetUp() override {
        btf_ = btf__parse_elf(HTTP_BPF_OBJECT, nullptr);
        ASSERT_NE(btf_, nullptr) << "cannot read BTF from " << HTTP_BPF_OBJECT;
    }
    void TearDown() override { btf__free(btf_); }
    btf* btf_ = nullptr;
};

TEST_F(AbiLayout, EveryStructMatchesMemberByMember) {
    for (const auto& [name, cpp] : cpp_layouts()) {
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

} // namespace
