declare const $: JQueryStatic;

/**
 * Shows `message` under a field while its value is invalid, as the user types. Node-RED's own
 * validation only paints the border red; this says what is expected instead.
 */
export function bindFieldCheck(inputSelector: string, messageSelector: string, isValid: (value: string) => boolean, message: () => string): void {
  const input = $(inputSelector);
  const target = $(messageSelector);
  const check = (): void => {
    const value = String(input.val() ?? '').trim();
    target.text(value === '' || isValid(value) ? '' : message());
  };
  input.on('input change', check);
  check();
}
