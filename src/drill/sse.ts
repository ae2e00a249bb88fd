/**
 * Server-Sent Events framing (the WHATWG EventSource rules the drill and the benchmarks need):
 * text in, whole events out. Fields `event` and `data` (multi-line data joined by "\n"); comments
 * (`: keep-alive`), `id:` and `retry:` lines are skipped; an event without data is not dispatched.
 */
export interface SseEvent {
  event: string;
  data: string;
}

export class SseParser {
  private text = '';
  private event = 'message';
  private data: string[] = [];

  /** Feeds decoded text; returns the events it completed, in order. */
  push(chunk: string): SseEvent[] {
    this.text += chunk;
    const out: SseEvent[] = [];
    let i = this.text.indexOf('\n');
    while (i >= 0) {
      const line = this.text.slice(0, i).replace(/\r$/, '');
      this.text = this.text.slice(i + 1);
      if (line === '') {
        if (this.data.length) out.push({ event: this.event, data: this.data.join('\n') });
        this.event = 'message';
        this.data = [];
      } else if (line.startsWith('event:')) this.event = line.slice(6).trim();
      else if (line.startsWith('data:')) this.data.push(line.slice(5).replace(/^ /, ''));
      i = this.text.indexOf('\n');
    }
    return out;
  }
}
