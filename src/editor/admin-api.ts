/**
 * Calls to the m365-account admin endpoints (behind Node-RED's editor permissions). Node-RED's
 * editor sets the auth header on jQuery ajax calls, so we go through $.ajax.
 */
declare const $: JQueryStatic;

/** A failed admin request: the server's message plus, when it sent one, the fix-it text and kind. */
export class AdminRequestError extends Error {
  constructor(message: string, readonly fix?: string, readonly kind?: string) {
    super(message);
    this.name = 'AdminRequestError';
  }
}

interface ErrorBody {
  message?: string;
  error?: string;
  fix?: string;
  kind?: string;
}

/**
 * Sends one request to the runtime's admin API (a path relative to the editor, no leading slash)
 * and resolves with its JSON answer; rejects with an AdminRequestError.
 */
export function adminRequest<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    $.ajax({
      url: path,
      method,
      contentType: body === undefined ? undefined : 'application/json',
      data: body === undefined ? undefined : JSON.stringify(body),
      dataType: 'json',
      timeout: 120000,
    })
      .done((data: T) => resolve(data))
      .fail((xhr: JQuery.jqXHR) => {
        const answer = (xhr.responseJSON ?? {}) as ErrorBody;
        const message = answer.message || answer.error || xhr.statusText || 'request failed';
        reject(new AdminRequestError(String(message), answer.fix, answer.kind));
      });
  });
}

/** The part of an error worth showing: message and fix text, never markup. */
export function describeFailure(error: unknown): { message: string; fix?: string } {
  if (error instanceof AdminRequestError) return { message: error.message, fix: error.fix };
  return { message: error instanceof Error ? error.message : String(error) };
}
