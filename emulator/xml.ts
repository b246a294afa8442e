// STS Query-protocol responses. AWS pretty-prints its XML with two-space indents;
// clients do not care, but matching it keeps captured traffic comparable.
export const STS_NAMESPACE = 'https://sts.amazonaws.com/doc/2011-06-15/';

// A child is either a text leaf or a nested element; undefined children are omitted,
// which is how optional members (SourceIdentity, PackedPolicySize) disappear.
export type XmlNode = [name: string, content: string | number | XmlChild[]];
export type XmlChild = XmlNode | undefined;

// Text content only (we never emit attribute values from input): AWS leaves quotes literal,
// so "Value 'x' at 'roleSessionName'" reads the same in raw captures.
export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function render(node: XmlNode, depth: number, attrs = ''): string {
  const pad = '  '.repeat(depth);
  const [name, content] = node;
  if (typeof content === 'string' || typeof content === 'number') {
    return `${pad}<${name}${attrs}>${escapeXml(String(content))}</${name}>\n`;
  }
  const inner = content
    .filter((c): c is XmlNode => c !== undefined)
    .map((c) => render(c, depth + 1))
    .join('');
  return `${pad}<${name}${attrs}>\n${inner}${pad}</${name}>\n`;
}

export function successXml(action: string, result: XmlChild[], requestId: string, ns = STS_NAMESPACE): string {
  const root: XmlNode = [
    `${action}Response`,
    [
      // GetCallerIdentity and friends always carry a Result element, even when empty.
      [`${action}Result`, result],
      ['ResponseMetadata', [['RequestId', requestId]]],
    ],
  ];
  return render(root, 0, ` xmlns="${ns}"`);
}

export function errorXml(type: string, code: string, message: string, requestId: string, ns = STS_NAMESPACE, shape: 'aws' | 'errors' = 'aws'): string {
  const error: XmlNode = ['Error', [['Type', type], ['Code', code], ['Message', message]]];
  const root: XmlNode = [
    'ErrorResponse',
    [
      // moto and LocalStack wrap the error in <Errors> (STS answers in the wild: keyrole reads both shapes).
      shape === 'errors' ? ['Errors', [error]] : error,
      ['RequestId', requestId],
    ],
  ];
  return render(root, 0, ` xmlns="${ns}"`);
}
