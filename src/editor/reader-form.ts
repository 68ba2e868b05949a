declare const $: JQueryStatic;

/**
 * Shows the rows that only make sense for some choices of a select (e.g. the folder for `save`).
 * `onChange` runs after the rows were shown or hidden, e.g. to resize an editor that appeared.
 */
export function bindVisibility(selectId: string, rows: Record<string, string[]>, onChange?: (value: string) => void): void {
  const select = $(`#node-input-${selectId}`);
  const apply = (): void => {
    const value = String(select.val());
    for (const [rowClass, values] of Object.entries(rows)) $(`.${rowClass}`).toggle(values.includes(value));
    onChange?.(value);
  };
  select.on('change', apply);
  apply();
}
