# FindJansson: locate jansson through pkg-config and expose the imported target Jansson::Jansson.
find_package(PkgConfig REQUIRED)
pkg_check_modules(PC_Jansson REQUIRED IMPORTED_TARGET jansson)
if(NOT TARGET Jansson::Jansson)
  add_library(Jansson::Jansson INTERFACE IMPORTED)
  target_link_libraries(Jansson::Jansson INTERFACE PkgConfig::PC_Jansson)
endif()
set(Jansson_FOUND TRUE)
