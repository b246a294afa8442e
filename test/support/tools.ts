// Real parts the tests and the demo need. A missing one fails loudly with its install
// step; nothing is skipped silently.

import { execFileSync } from 'node:child_process';

export const DEBIAN_PACKAGES = 'gnome-keyring dbus libsecret-tools chrony faketime libfaketime oathtool awscli hyperfine keyutils chromium zsh fish gdb';

const INSTALL: Record<string, string> = {
  'dbus-daemon': 'apt-get install -y dbus',
  'dbus-send': 'apt-get install -y dbus',
  'gnome-keyring-daemon': 'apt-get install -y gnome-keyring',
  chronyd: 'apt-get install -y chrony',
  faketime: 'apt-get install -y faketime libfaketime',
  oathtool: 'apt-get install -y oathtool',
  hyperfine: 'apt-get install -y hyperfine',
  script: 'apt-get install -y bsdutils',
  '/usr/bin/aws': 'apt-get install -y awscli (Debian\'s AWS CLI v2)',
  aws: 'pip install awscli, or apt-get install -y awscli',
  python3: 'apt-get install -y python3',
  chromium: 'apt-get install -y chromium',
  zsh: 'apt-get install -y zsh',
  fish: 'apt-get install -y fish',
  gcore: 'apt-get install -y gdb',
  go: 'apt-get install -y golang-go golang-github-aws-aws-sdk-go-v2-dev',
  'qemu-aarch64-static': 'apt-get install -y qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross',
};

export function which(tool: string): string | undefined {
  try {
    return execFileSync('sh', ['-c', `command -v "$1"`, 'sh', tool], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The path of a required tool, or an error naming the install step (scripts/prepare.sh does them all). */
export function requireTool(tool: string): string {
  const found = tool.startsWith('/') ? (which(tool) ?? undefined) : which(tool);
  if (!found) throw new Error(`${tool} is not installed: run ${INSTALL[tool] ?? `apt-get install ${tool}`} (or sh scripts/prepare.sh as root)`);
  return found;
}
