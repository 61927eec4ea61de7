// DOM rendering: tenant cards and the latest-eggs table. Elements are
// created once and then only their text and widths change.

import { DashboardModel, latencyMs } from './model.js';
import type { Counts, ModelAccuracy, Prediction } from './types.js';

const FIELDS: (keyof Counts)[] = ['total', 'female', 'male', 'keep', 'divert', 'recheck'];
const number = new Intl.NumberFormat('en');
const percent = new Intl.NumberFormat('en', { style: 'percent', maximumFractionDigits: 1 });

function el<K extends keyof HTMLElementTagNameMap>(tag: K, className?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function setText(e: Element, text: string): void {
  if (e.textContent !== text) e.textContent = text;
}

interface CardView {
  root: HTMLElement;
  fields: Map<keyof Counts, HTMLElement>;
  femaleBar: HTMLElement;
  ratioText: HTMLElement;
  accuracyText: HTMLElement;
  bar: HTMLElement;
}

/** "live accuracy 1.0.0: 92.5 % of 40" per model version, or a note that no outcome is recorded. */
export function accuracyLabel(rows: ModelAccuracy[]): string {
  if (rows.length === 0) return 'live accuracy: no outcomes yet';
  return 'live accuracy ' + rows.map((a) => `${a.model_version}: ${percent.format(a.accuracy)} of ` +
    number.format(a.outcomes)).join(' · ');
}

export class DashboardView {
  private readonly cards = new Map<string, CardView>();

  constructor(
    private readonly cardsRoot: HTMLElement,
    private readonly tableBody: HTMLElement,
    private readonly totals: HTMLElement,
  ) {}

  render(model: DashboardModel): void {
    const names = [...model.tenants.keys()].sort();
    for (const name of names) this.renderCard(name, model.tenants.get(name)!, model.accuracy.get(name) ?? []);
    const overall = model.overall();
    setText(this.totals, `${number.format(overall.total)} eggs · ${number.format(overall.female)} female · ` +
      `${number.format(overall.male)} male`);
    this.renderTable(model.latest);
  }

  private renderCard(name: string, c: Counts, accuracy: ModelAccuracy[]): void {
    let view = this.cards.get(name);
    if (!view) {
      view = this.createCard(name);
      this.cards.set(name, view);
      // Keep cards in tenant order.
      const after = [...this.cards.keys()].sort().find((n) => n > name);
      this.cardsRoot.insertBefore(view.root, after ? this.cards.get(after)!.root : null);
    }
    for (const f of FIELDS) setText(view.fields.get(f)!, number.format(c[f]));
    const sexed = c.female + c.male;
    const ratio = sexed > 0 ? c.female / sexed : 0;
    view.femaleBar.style.width = `${(ratio * 100).toFixed(2)}%`;
    const label = sexed > 0 ? `${percent.format(ratio)} female` : 'no eggs yet';
    setText(view.ratioText, label);
    view.bar.setAttribute('aria-label', `female ratio ${label}`);
    setText(view.accuracyText, accuracyLabel(accuracy));
  }

  private createCard(name: string): CardView {
    const root = el('article', 'card');
    root.dataset['tenant'] = name;
    root.setAttribute('aria-label', `hatchery ${name}`);
    root.append(el('h3', 'card-title', name));
    const fields = new Map<keyof Counts, HTMLElement>();
    const dl = el('dl', 'counts');
    for (const f of FIELDS) {
      const item = el('div', `count count-${f}`);
      const value = el('dd', 'count-value', '0');
      value.dataset['field'] = f;
      item.append(el('dt', 'count-label', f), value);
      dl.append(item);
      fields.set(f, value);
    }
    const bar = el('div', 'ratio-bar');
    bar.setAttribute('role', 'img');
    const femaleBar = el('div', 'ratio-female');
    bar.append(femaleBar);
    const ratioText = el('p', 'ratio-text', '');
    ratioText.dataset['field'] = 'female_ratio';
    const accuracyText = el('p', 'ratio-text accuracy-text', '');
    accuracyText.dataset['field'] = 'accuracy';
    root.append(dl, bar, ratioText, accuracyText);
    return { root, fields, femaleBar, ratioText, accuracyText, bar };
  }

  private renderTable(latest: Prediction[]): void {
    const rows: HTMLTableRowElement[] = [];
    for (const p of latest) {
      const tr = el('tr');
      tr.dataset['egg'] = p.egg_id;
      const latency = latencyMs(p);
      const decision = p.decision.replace('DECISION_', '');
      const sex = p.sex.replace('SEX_', '');
      const decisionCell = el('td');
      decisionCell.append(el('span', `decision decision-${decision.toLowerCase()}`, decision));
      tr.append(
        el('td', 'mono', p.egg_id),
        el('td', '', p.tenant_id),
        el('td', 'mono', `${p.tray_id} / ${p.tray_position}`),
        el('td', `sex sex-${sex.toLowerCase()}`, sex),
        el('td', 'num', `${(p.p_female * 100).toFixed(1)} %`),
        decisionCell,
        el('td', 'mono', p.model_version),
        el('td', 'num', Number.isFinite(latency) ? latency.toFixed(0) : '–'),
      );
      rows.push(tr);
    }
    this.tableBody.replaceChildren(...rows);
  }
}
