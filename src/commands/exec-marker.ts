// Set in the environment of a command that `keyrole exec` runs: the profile it runs as
// (whoami and status default to it) and the guard against nesting.
export const EXEC_MARKER = 'KEYROLE_EXEC';
