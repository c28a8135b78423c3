# The HTTP API server, included by agent/CMakeLists.txt. Its own library because it is the
# only Beast user: Beast stays in http_api.cpp and nothing else pays its compile time.
add_library(http_api STATIC ${CMAKE_CURRENT_LIST_DIR}/http_api.cpp)
target_include_directories(http_api PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(http_api
  PUBLIC Boost::headers Threads::Threads
  PRIVATE spdlog::spdlog fmt::fmt)

# The outgoing HTTP client (webhooks, Alertmanager): the other Beast user, kept apart too.
add_library(http_client STATIC ${CMAKE_CURRENT_LIST_DIR}/http_client.cpp)
target_include_directories(http_client PUBLIC ${CMAKE_SOURCE_DIR})
target_link_libraries(http_client
  PUBLIC Boost::headers Threads::Threads
  PRIVATE OpenSSL::SSL OpenSSL::Crypto fmt::fmt)
