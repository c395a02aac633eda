// Failures. Each carries an explicit `type` so the activity layer can map it to
// an ApplicationFailure without instanceof checks across module copies.

export abstract class TerraformError extends Error {
  abstract readonly type: string;
  /** Whether a retry of the same step could succeed. */
  abstract readonly retryable: boolean;
}

/** Terraform ran and exited non-zero for a reason a retry may fix (network, throttling, a lock). */
export class TerraformExitError extends TerraformError {
  readonly type: string = 'TerraformExitError';
  readonly retryable: boolean = true;
  constructor(
    message: string,
    readonly command: string,
    readonly exitCode: number,
    /** The last stderr lines, already redacted. */
    readonly stderrTail: string[],
  ) {
    super(message);
    this.name = 'TerraformExitError';
  }
}

/** The module or its inputs are wrong (bad argument, failed precondition): retrying gives the same answer. */
export class TerraformConfigError extends TerraformExitError {
  override readonly type = 'TerraformConfigError';
  override readonly retryable = false;
  constructor(message: string, command: string, exitCode: number, stderrTail: string[]) {
    super(message, command, exitCode, stderrTail);
    this.name = 'TerraformConfigError';
  }
}

/** The run was stopped through its AbortSignal (activity cancellation). */
export class TerraformCancelled extends TerraformError {
  readonly type = 'TerraformCancelled';
  readonly retryable = false;
  constructor(
    message: string,
    readonly command: string,
    /** True when the grace period ran out and the process group was killed. */
    readonly killed: boolean,
  ) {
    super(message);
    this.name = 'TerraformCancelled';
  }
}

/** The binary could not be started at all (missing, not executable). */
export class TerraformSpawnError extends TerraformError {
  readonly type = 'TerraformSpawnError';
  readonly retryable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TerraformSpawnError';
  }
}

/** Terraform exited 0 but printed something other than the JSON we asked for. */
export class TerraformOutputError extends TerraformError {
  readonly type = 'TerraformOutputError';
  readonly retryable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TerraformOutputError';
  }
}

// Diagnostics that mean the configuration or its variables are wrong. "Error:
// Invalid " keeps its trailing space so provider errors such as
// "InvalidClientTokenId" (a credential problem, possibly transient) stay retryable.
const CONFIG_ERROR_PATTERNS = [
  /Error: Unsupported argument/,
  /Error: Unsupported attribute/,
  /Error: Unsupported block type/,
  /Error: Invalid /,
  /Error: Missing required argument/,
  /Error: Missing required provider/,
  /Error: No value for required variable/,
  /Error: Argument or block definition required/,
  /Error: Duplicate /,
  /Error: Resource precondition failed/,
  /Error: Module precondition failed/,
  /Reference to undeclared/,
  /Invalid value for variable/,
];

export function isConfigErrorLine(line: string): boolean {
  return CONFIG_ERROR_PATTERNS.some((re) => re.test(line));
}

/** `checkReplan` refused the fresh plan of a re-planned apply; a retry would only plan the same again. */
export class PlanChangedError extends TerraformError {
  readonly type = 'PlanChangedSinceApproval';
  readonly retryable = false;
}

export function failureMessage(command: string, exitCode: number, stderrTail: string[]): string {
  const meaningful = stderrTail.map((l) => l.trimEnd()).filter((l) => l.trim() !== '' && !/^[│╷╵]\s*$/.test(l));
  const headline = meaningful.find((l) => /Error: /.test(l))?.replace(/^[│\s]*Error: /, '');
  let message = `terraform ${command} failed (exit code ${exitCode})${headline ? `: ${headline}` : ''}`;
  const detail = meaningful.slice(-20).join('\n');
  if (detail) message += `\n${detail}`;
  return message.length > 4000 ? `${message.slice(0, 4000)}…` : message;
}
