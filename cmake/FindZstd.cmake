# FindZstd: locate libzstd through pkg-config and expose the imported target Zstd::Zstd.
find_package(PkgConfig REQUIRED)
pkg_check_modules(PC_Zstd REQUIRED IMPORTED_TARGET libzstd)
if(NOT TARGET Zstd::Zstd)
  add_library(Zstd::Zstd INTERFACE IMPORTED)
  target_link_libraries(Zstd::Zstd INTERFACE PkgConfig::PC_Zstd)
endif()
set(Zstd_FOUND TRUE)
