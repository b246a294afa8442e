/* ProcessPrng for Wine 8.0, which lacks it: the keychain addon (@napi-rs/keyring's win32
 * build, through Rust's std) imports it from bcryptprimitives.dll and will not load without
 * it. Windows 10 and later have it; this stand-in exists only for the test lane under Wine
 * (scripts/prepare.sh builds it with mingw and copies it into the Wine prefix). It fills the
 * buffer from RtlGenRandom (advapi32's SystemFunction036), the generator Windows itself
 * documents for this use. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length) {
  while (length > 0) {
    ULONG n = length > 0x10000000 ? 0x10000000 : (ULONG)length;
    if (!SystemFunction036(data, n)) return FALSE;
    data += n;
    length -= n;
  }
  return TRUE;
}
