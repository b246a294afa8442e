// keyrole's version: the build defines KEYROLE_VERSION from package.json; the sources say dev.

declare const KEYROLE_VERSION: string | undefined;
export const VERSION = typeof KEYROLE_VERSION === 'string' ? KEYROLE_VERSION : '0.0.0-dev';
