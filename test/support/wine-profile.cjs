// Preloaded into Windows Node under Wine (node.exe --require this file) by test/support/wine.ts.
// Wine sets USERPROFILE to C:\users\<you> whatever the environment says and drops HOME, so
// the lane passes the test world's Windows profile directory as KEYROLE_WINE_PROFILE, and
// this sets USERPROFILE, LOCALAPPDATA and APPDATA from it, as Windows sets them at logon,
// before keyrole starts. Programs keyrole starts inherit them.
'use strict';
const profile = process.env.KEYROLE_WINE_PROFILE;
if (profile) {
  process.env.USERPROFILE = profile;
  process.env.LOCALAPPDATA = `${profile}\\AppData\\Local`;
  process.env.APPDATA = `${profile}\\AppData\\Roaming`;
}
