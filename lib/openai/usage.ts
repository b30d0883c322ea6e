/**
 * Token counts are estimates: Coze does not report its own, and a real BPE
 * tokenizer would cost tens of MB of RSS (the idle budget is 75 MB). The
 * estimate follows the usual rule of thumb for OpenAI tokenizers: about four
 * characters of Latin text per token, about one token per CJK character.
 */
export function estimateTokens(text: string): number {
  if (text === "") return 0;
  let wide = 0;
  let narrow = 0;
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (code >= 0x2e80 || (code >= 0x1100 && code <= 0x11ff)) wide++;
    else narrow++;
  }
  return Math.max(1, wide + Math.ceil(narrow / 4));
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export function usage(prompt: string, completion: string): Usage {
  const prompt_tokens = estimateTokens(prompt);
  const completion_tokens = estimateTokens(completion);
  return { prompt_tokens, completion_tokens, total_tokens: prompt_tokens + completion_tokens };
}
