import type { Child, FC } from 'hono/jsx';
import type { EmailBlock, EmailModel, KeyValue } from './emailModel.js';

/**
 * The HTML part of an email: hono/jsx (escaped by construction), a table
 * layout with inline styles only (mail clients ignore stylesheets), no script.
 */

const font = 'font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;';
const mono = 'font-family:SFMono-Regular,Consolas,Menlo,monospace;font-size:12px;';

const Paragraph: FC<{ children?: Child }> = ({ children }) => (
  <p style={`${font}font-size:14px;line-height:1.5;color:#24292f;margin:0 0 8px 0;`}>{children}</p>
);

const KeyValues: FC<{ rows: KeyValue[] }> = ({ rows }) => (
  <table role="presentation" cellpadding="0" cellspacing="0" style="border-collapse:collapse;width:100%;">
    {rows
      .filter(([, v]) => v !== null && v !== undefined && v !== '')
      .map(([k, v]) => (
        <tr>
          <td style={`${font}font-size:13px;color:#57606a;padding:3px 12px 3px 0;white-space:nowrap;vertical-align:top;`}>{k}</td>
          <td style={`${mono}color:#24292f;padding:3px 0;word-break:break-all;`}>{v}</td>
        </tr>
      ))}
  </table>
);

const Block: FC<{ block: EmailBlock }> = ({ block }) => {
  switch (block.kind) {
    case 'paragraph':
      return <Paragraph>{block.text}</Paragraph>;
    case 'host':
      return (
        <Paragraph>
          Host ({block.host.kind}): <span style={mono}>{block.host.name}</span>
          {block.host.kind === 'private IP' ? ' — the instance has no public address; use it from inside the VPC.' : null}
        </Paragraph>
      );
    case 'keyValues':
      return <KeyValues rows={block.rows} />;
    case 'log':
      return (
        <pre
          style={`${mono}background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:12px;margin:0;white-space:pre-wrap;word-break:break-all;color:#24292f;`}
        >
          {block.lines.join('\n')}
        </pre>
      );
    case 'ports':
      return (
        <ul style={`${font}font-size:14px;line-height:1.6;color:#24292f;margin:0;padding-left:20px;`}>
          {block.ports.map((p) => (
            <li>
              {p.label}
              {p.url ? (
                <>
                  {' — '}
                  <a href={p.url} style="color:#0969da;">
                    {p.url}
                  </a>
                </>
              ) : null}
              {p.note ? ` (${p.note})` : null}
            </li>
          ))}
        </ul>
      );
  }
};

export const EmailDocument: FC<{ model: EmailModel }> = ({ model: m }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>{m.subject}</title>
    </head>
    <body style="margin:0;padding:0;background:#f6f8fa;">
      <table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f6f8fa;padding:24px 0;">
        <tr>
          <td align="center">
            <table
              role="presentation"
              width="600"
              cellpadding="0"
              cellspacing="0"
              style="max-width:600px;width:100%;background:#ffffff;border:1px solid #d0d7de;border-radius:6px;border-collapse:separate;"
            >
              <tr>
                <td style={`padding:20px 24px 0 24px;border-top:4px solid ${m.accent};border-radius:6px 6px 0 0;`}>
                  <div style={`${font}font-size:12px;color:#57606a;text-transform:uppercase;letter-spacing:0.5px;`}>
                    Provisioning · job {m.jobId}
                  </div>
                  <h1 style={`${font}font-size:20px;margin:6px 0 4px 0;color:#24292f;`}>{m.heading}</h1>
                  <div style={`${font}font-size:15px;color:#24292f;margin:0 0 12px 0;`}>
                    Job <strong>“{m.jobName}”</strong> · {m.statusText}
                  </div>
                  <Paragraph>{m.intro}</Paragraph>
                </td>
              </tr>
              {m.sections.map((s) => (
                <tr>
                  <td style="padding:16px 24px 0 24px;">
                    <h2 style={`${font}font-size:15px;margin:0 0 8px 0;color:#24292f;`}>{s.title}</h2>
                    {s.blocks.map((b) => (
                      <Block block={b} />
                    ))}
                  </td>
                </tr>
              ))}
              <tr>
                <td style="padding:20px 24px 8px 24px;">
                  <a
                    href={m.jobUrl}
                    style={`${font}display:inline-block;background:${m.accent};color:#ffffff;text-decoration:none;font-size:14px;font-weight:600;padding:10px 16px;border-radius:6px;`}
                  >
                    {m.linkLabel}
                  </a>
                </td>
              </tr>
              <tr>
                <td style={`${font}padding:8px 24px 20px 24px;font-size:12px;color:#57606a;`}>
                  Job page:{' '}
                  <a href={m.jobUrl} style="color:#0969da;">
                    {m.jobUrl}
                  </a>
                  <br />
                  You receive this because you requested this environment ({m.requesterEmail}).
                </td>
              </tr>
            </table>
          </td>
        </tr>
      </table>
    </body>
  </html>
);

export function emailHtml(model: EmailModel): string {
  const rendered = (<EmailDocument model={model} />).toString();
  if (typeof rendered !== 'string') throw new Error('email components must render synchronously');
  return `<!DOCTYPE html>${rendered}`;
}
