# cmake -DINPUT=<file> -DOUTPUT=<.cc> -DNAME=<function> -P embed_file.cmake
# Writes a C++ source whose function NAME() returns the file's bytes.
file(READ "${INPUT}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "(0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,0x..,)" "\\1\n" bytes "${bytes}")
file(WRITE "${OUTPUT}.tmp" "// Generated from ${INPUT} by embed_file.cmake; do not edit.\n#include <string_view>\n\nnamespace ovoflow::api {\n\nnamespace {\nconst unsigned char kBytes[] = {\n${bytes}0};\n}  // namespace\n\nstd::string_view ${NAME}() { return {reinterpret_cast<const char*>(kBytes), sizeof(kBytes) - 1}; }\n\n}  // namespace ovoflow::api\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
