# The Debian package: `cmake --build build --target package` writes
# build/homeostat_<version>_<arch>.deb. docs/operations.md says what it installs and what
# its maintainer scripts do; tests/packaging/test_deb.py checks both.
#
# The binaries' install() rules live next to their targets (agent/, cli/); the files
# below are the ones a system install adds around them. Absolute destinations are on
# purpose: /etc, /lib/systemd/system and /var/lib are outside the /usr prefix, and CPack's
# DEB generator stages them under its own root (DESTDIR), never on this machine.

set(HOMEOSTAT_PKG_DIR ${CMAKE_SOURCE_DIR}/packaging)

install(FILES ${HOMEOSTAT_PKG_DIR}/homeostatd.service DESTINATION /lib/systemd/system)
# A conffile (packaging/debian/conffiles): dpkg keeps the operator's edits on upgrade.
install(FILES ${HOMEOSTAT_PKG_DIR}/homeostat.yaml DESTINATION /etc/homeostat)
# State (homeostat.db): detector baselines, alert spool, history. 0700 as the daemon
# creates it; postrm removes it on purge only.
install(DIRECTORY DESTINATION /var/lib/homeostat
        DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)
install(FILES README.md DESTINATION share/doc/homeostat)
install(DIRECTORY docs/ DESTINATION share/doc/homeostat/docs FILES_MATCHING PATTERN "*.md")
install(FILES ${HOMEOSTAT_PKG_DIR}/grafana/homeostat.json DESTINATION share/doc/homeostat/examples/grafana)
install(DIRECTORY ${HOMEOSTAT_PKG_DIR}/kubernetes ${HOMEOSTAT_PKG_DIR}/helm
        DESTINATION share/doc/homeostat/examples)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME homeostat)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "homeostat maintainers <homeostat@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "eBPF agent that observes HTTP services, detects anomalies and heals")
set(CPACK_PACKAGE_DESCRIPTION
    "homeostatd watches every HTTP/1.x exchange of every process on the host with eBPF\n"
    "(no code changes), serves per-service, per-endpoint metrics on a Prometheus\n"
    "endpoint, learns what normal looks like and opens anomalies with their evidence.")
string(REPLACE ";" "" CPACK_PACKAGE_DESCRIPTION "${CPACK_PACKAGE_DESCRIPTION}")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON) # RelWithDebInfo binaries: the debug info stays in the build tree
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # homeostat_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Depends: from the binaries' shared libraries (libbpf1, libyaml-cpp0.7, libssl3, ...).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# HTTPS receivers (Slack, webhooks) are verified against the system's CA certificates.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS ca-certificates)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${HOMEOSTAT_PKG_DIR}/debian/conffiles
    ${HOMEOSTAT_PKG_DIR}/debian/postinst
    ${HOMEOSTAT_PKG_DIR}/debian/prerm
    ${HOMEOSTAT_PKG_DIR}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON) # scripts 0755, conffiles 0644
include(CPack)
