// An STS failure as AWS reports it: HTTP status, fault type, code, message.
export class StsError extends Error {
  readonly code: string;
  readonly status: number;
  readonly type: 'Sender' | 'Receiver';

  constructor(code: string, message: string, status = 400, type?: 'Sender' | 'Receiver') {
    super(message);
    this.name = 'StsError';
    this.code = code;
    this.status = status;
    this.type = type ?? (status >= 500 ? 'Receiver' : 'Sender');
  }
}

export const SIGNATURE_MISMATCH_MESSAGE =
  'The request signature we calculated does not match the signature you provided. ' +
  'Check your AWS Secret Access Key and signing method. Consult the service documentation for details.';

export const invalidClientTokenId = (): StsError =>
  new StsError('InvalidClientTokenId', 'The security token included in the request is invalid.', 403);

// Real STS answers 403 here (seen in aws-sdk-java-v2#1649 and IAM/STS error dumps), not 400.
export const expiredToken = (): StsError =>
  new StsError('ExpiredToken', 'The security token included in the request is expired', 403);

export const signatureMismatch = (message = SIGNATURE_MISMATCH_MESSAGE): StsError =>
  new StsError('SignatureDoesNotMatch', message, 403);

export const incompleteSignature = (message: string): StsError =>
  new StsError('IncompleteSignature', message, 400);

export const accessDenied = (message: string): StsError => new StsError('AccessDenied', message, 403);

export const notAuthorized = (callerArn: string, action: string, resource: string): StsError =>
  accessDenied(`User: ${callerArn} is not authorized to perform: ${action} on resource: ${resource}`);

export const validationError = (message: string): StsError => new StsError('ValidationError', message, 400);
