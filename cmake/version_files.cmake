# Which files of a folder a CPython version's build compiles.
#
# A file named for a CPython version, <stem>3XY.c (pyframe311.c), is the
# version-specific part of a module. For each stem, the build for CPython
# 3.<minor> takes the file with the highest XY at or below its minor:
# pyframe311.c serves 3.11 and every later version until a pyframe312.c is
# added, which then serves 3.12 and 3.13 until a pyframe313.c exists. So a
# new version builds from the files of the one before it, and a file is
# added only where the new version differs. A stem whose files all name
# later versions has none in that version's build. Every other .c file is
# taken as it is. Minor 0 (the executable's layers, built for no version)
# takes no version's file.
#
# Used by CMakeLists.txt; tests/version_files.cmake checks the rule.

# pyscope_version_files(out dir minor): the .c files of the absolute
# directory dir for CPython 3.<minor>, into out.
function(pyscope_version_files out dir minor)
  if(CMAKE_SCRIPT_MODE_FILE)
    file(GLOB all ${dir}/*.c)
  else()
    file(GLOB all CONFIGURE_DEPENDS ${dir}/*.c)
  endif()
  set(sources "")
  set(stems "")
  foreach(f IN LISTS all)
    get_filename_component(n ${f} NAME_WE)
    if(NOT n MATCHES "^(.*[a-z])3([0-9]+)$")
      list(APPEND sources ${f})
      continue()
    endif()
    set(stem ${CMAKE_MATCH_1})
    set(for ${CMAKE_MATCH_2})
    if(for GREATER minor)
      continue()
    endif()
    if(NOT stem IN_LIST stems)
      list(APPEND stems ${stem})
      set(best_${stem} ${for})
      set(file_${stem} ${f})
    elseif(for GREATER best_${stem})
      set(best_${stem} ${for})
      set(file_${stem} ${f})
    endif()
  endforeach()
  foreach(stem IN LISTS stems)
    list(APPEND sources ${file_${stem}})
  endforeach()
  set(${out} ${sources} PARENT_SCOPE)
endfunction()
