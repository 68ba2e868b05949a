/**
 * Calls to the m365-account admin endpoints (behind Node-RED's editor permissions). Node-RED's
 * editor sets the auth header on jQuery ajax calls, so we go through $.ajax.
 */
declare const $: JQueryStatic;

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
        const message = (xhr.responseJSON && (xhr.responseJSON.message || xhr.responseJSON.error)) || xhr.statusText || 'request failed';
        reject(new Error(String(message)));
      });
  });
}
