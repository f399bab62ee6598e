# FindMHD: locate libmicrohttpd through pkg-config and expose the imported target MHD::MHD.
find_package(PkgConfig REQUIRED)
pkg_check_modules(PC_MHD REQUIRED IMPORTED_TARGET libmicrohttpd)
if(NOT TARGET MHD::MHD)
  add_library(MHD::MHD INTERFACE IMPORTED)
  target_link_libraries(MHD::MHD INTERFACE PkgConfig::PC_MHD)
endif()
set(MHD_FOUND TRUE)
