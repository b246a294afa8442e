// The browser opener shared by the SSO sign-in and `keyrole console`: BROWSER as Python's
// webbrowser and xdg-open read it, then the platform's opener; only safe pages handed over.

import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { browserCommands } from '../../src/util/browser.ts';

describe('the browser', () => {
  const url = 'https://device.sso.eu-west-1.amazonaws.com/?user_code=ABCD-EFGH';
  const page = { url };

  test('xdg-open only with a display, never with KEYROLE_NO_BROWSER', () => {
    assert.deepEqual(browserCommands(page, 'linux', {}), []);
    assert.deepEqual(browserCommands(page, 'linux', { DISPLAY: ':0' }), [['xdg-open', [url]]]);
    assert.deepEqual(browserCommands(page, 'linux', { WAYLAND_DISPLAY: 'wayland-0' }), [['xdg-open', [url]]]);
    assert.deepEqual(browserCommands(page, 'linux', { DISPLAY: ':0', KEYROLE_NO_BROWSER: '1', BROWSER: 'firefox' }), []);
    assert.deepEqual(browserCommands(page, 'linux', { DISPLAY: ':0', KEYROLE_NO_BROWSER: 'yes' }), []);
  });

  test('regression: KEYROLE_NO_BROWSER=0 (false, no, off, empty) is the switch turned off, not "set, so no browser"', () => {
    for (const v of ['0', 'false', 'No', ' off ', '']) {
      assert.deepEqual(browserCommands(page, 'linux', { DISPLAY: ':0', KEYROLE_NO_BROWSER: v }), [['xdg-open', [url]]], JSON.stringify(v));
    }
  });

  test('open on macOS (not over SSH), on Windows url.dll with the URL as one argument, & and all', () => {
    assert.deepEqual(browserCommands(page, 'darwin', {}), [['open', [url]]]);
    assert.deepEqual(browserCommands(page, 'darwin', { SSH_CONNECTION: '1 2 3 4' }), []);
    assert.deepEqual(browserCommands(page, 'darwin', { SSH_TTY: '/dev/ttys001' }), []);
    assert.deepEqual(browserCommands(page, 'darwin', { SSH_CONNECTION: '1 2 3 4', DISPLAY: ':10' }), [['open', [url]]]);
    assert.deepEqual(browserCommands({ url: 'https://x/?a=1&b=2' }, 'win32', {}), [['rundll32.exe', ['url.dll,FileProtocolHandler', 'https://x/?a=1&b=2']]]);
  });

  test('BROWSER comes first, even without a display: each entry in order, the page last or at %s', () => {
    assert.deepEqual(browserCommands(page, 'linux', { BROWSER: 'firefox' }), [['firefox', [url]]]);
    assert.deepEqual(browserCommands(page, 'linux', { BROWSER: 'chromium --new-window:w3m', DISPLAY: ':0' }), [
      ['chromium', ['--new-window', url]], ['w3m', [url]], ['xdg-open', [url]],
    ]);
    assert.deepEqual(browserCommands(page, 'linux', { BROWSER: "my-open --url=%s 'two words'" }), [['my-open', [`--url=${url}`, 'two words']]]);
    assert.deepEqual(browserCommands(page, 'linux', { BROWSER: '::' }), [], 'empty entries are skipped');
    assert.deepEqual(browserCommands(page, 'linux', { BROWSER: "bad 'quote" }), [], 'an unparsable entry is skipped');
    assert.deepEqual(browserCommands(page, 'win32', { BROWSER: 'C:\\Program Files\\Firefox\\firefox.exe' })[0], ['C:\\Program Files\\Firefox\\firefox.exe', [url]]);
  });

  test("keyrole's own local files go as file:// URLs (Windows: the path), never their content", () => {
    assert.deepEqual(browserCommands({ file: '/home/a/.aws/keyrole/console/signin-x.html' }, 'linux', { BROWSER: 'b' }), [['b', ['file:///home/a/.aws/keyrole/console/signin-x.html']]]);
    const [[, args]] = browserCommands({ file: 'C:\\Users\\a\\keyrole\\signin-x.html' }, 'win32', {});
    assert.equal(args.at(-1), 'C:\\Users\\a\\keyrole\\signin-x.html');
    for (const bad of ['relative/x.html', '/tmp/x";rm -rf ~', '/tmp/$(x).html', '/tmp/a&b.html']) {
      assert.deepEqual(browserCommands({ file: bad }, 'linux', { DISPLAY: ':0' }), [], bad);
    }
  });

  test('nothing but a plain http(s) URL is handed over', () => {
    for (const bad of ['file:///etc/passwd', 'https://x/"; rm -rf ~', 'javascript:alert(1)', 'https://x/ y']) {
      assert.deepEqual(browserCommands({ url: bad }, 'linux', { DISPLAY: ':0', BROWSER: 'b' }), [], bad);
    }
  });
});
