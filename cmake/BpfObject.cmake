# bpf_object(<name> <source.bpf.c>)
#
# Compiles a CO-RE BPF program with clang against the vendored vmlinux.h, generates its
# libbpf skeleton with bpftool, and defines an INTERFACE target <name>_skel that brings
# the skeleton header (<name>.skel.h, struct <name>_bpf) and libbpf. The .bpf.o path is exported as the
# property BPF_OBJECT of <name>_skel for tests that read its BTF.
find_program(BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

set(BPF_INCLUDES
    -I${CMAKE_SOURCE_DIR}/bpf/vmlinux/x86
    -I${CMAKE_SOURCE_DIR}/bpf/include
    -I${CMAKE_SOURCE_DIR}/bpf/lib)

function(bpf_object name src)
  set(obj ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
  set(skel ${CMAKE_CURRENT_BINARY_DIR}/${name}.skel.h)
  get_filename_component(src_abs ${src} ABSOLUTE)
  file(GLOB bpf_headers ${CMAKE_SOURCE_DIR}/bpf/include/*.h ${CMAKE_SOURCE_DIR}/bpf/lib/*.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror
            ${BPF_INCLUDES} -c ${src_abs} -o ${obj}
    DEPENDS ${src_abs} ${bpf_headers}
    COMMENT "BPF ${name}.bpf.o"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name}_bpf > ${skel}
    DEPENDS ${obj}
    COMMENT "BPF skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${name}_skel_gen DEPENDS ${skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${CMAKE_CURRENT_BINARY_DIR})
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF)
  set_property(TARGET ${name}_skel PROPERTY BPF_OBJECT ${obj})
endfunction()
