#!/usr/bin/env node
// The images' health probe: `node healthcheck.mjs <url> [timeout-seconds]`.
// Exits 0 when <url> answers 2xx within the timeout (3 s by default), 1 otherwise
// (never 2: Docker reserves it), printing one line either way. Plain JavaScript
// with Node's own fetch, so it runs in the distroless image: no curl, no shell.
const [url, timeoutArg = '3'] = process.argv.slice(2);
const timeoutSeconds = Number(timeoutArg);

function finish(code, line) {
  console.log(line);
  process.exitCode = code;
}

if (url === undefined || !/^https?:\/\//.test(url) || !(timeoutSeconds > 0)) {
  finish(1, 'usage: node healthcheck.mjs <http(s)-url> [timeout-seconds > 0]');
} else {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutSeconds * 1000), redirect: 'manual' });
    // The body is not needed; cancelling it lets the process exit at once.
    await response.body?.cancel();
    if (response.status >= 200 && response.status < 300) finish(0, `healthy: ${url} answered ${response.status}`);
    else finish(1, `unhealthy: ${url} answered ${response.status}`);
  } catch (err) {
    const reason = err?.name === 'TimeoutError' ? `no answer within ${timeoutSeconds} s` : (err?.cause?.code ?? err?.cause?.message ?? err?.message);
    finish(1, `unhealthy: ${url}: ${reason}`);
  }
}
