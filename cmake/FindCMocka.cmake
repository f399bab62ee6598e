# FindCMocka: locate cmocka through pkg-config and expose the imported target CMocka::CMocka.
find_package(PkgConfig REQUIRED)
pkg_check_modules(PC_CMocka REQUIRED IMPORTED_TARGET cmocka)
if(NOT TARGET CMocka::CMocka)
  add_library(CMocka::CMocka INTERFACE IMPORTED)
  target_link_libraries(CMocka::CMocka INTERFACE PkgConfig::PC_CMocka)
endif()
set(CMocka_FOUND TRUE)
