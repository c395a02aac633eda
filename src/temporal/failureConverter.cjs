// Plain CommonJS on purpose: the Temporal SDK require()s this path in the
// client and the worker and bundles it into workflow code, in every runtime
// (tsx, vitest, plain node) alike.
//
// Failure messages and stack traces can quote inputs; encoding them sends them
// through the encryption codec like every other payload.
const { DefaultFailureConverter } = require('@temporalio/common');

exports.failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
