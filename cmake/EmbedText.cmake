# cmake -DIN=FILE -DOUT=FILE.cc -DNAME=kName -DHEADER=dir/x.h -DNAMESPACE=omni::x
#       -P EmbedText.cmake
# FILE as the C++ string constant NAMESPACE::NAME (declared in HEADER), so a binary carries its
# page and needs no file beside it.
file(READ ${IN} text)
string(FIND "${text}" ")omni_text\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw string's delimiter")
endif()
file(WRITE ${OUT} "// Generated from ${IN} by cmake/EmbedText.cmake: edit that file.\n"
  "#include \"${HEADER}\"\n\nnamespace ${NAMESPACE} {\n\n"
  "const char* const ${NAME} = R\"omni_text(${text})omni_text\";\n\n}  // namespace ${NAMESPACE}\n")
