/** Server-sent events exactly as the Anthropic API frames them: `event: <type>` then `data: <json>`. */
export function encodeSseEvent(type: string, data: unknown): string {
  return `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}
