// React's `style` prop writes through the CSSOM, which the strict CSP allows (no inline
// style attributes are ever parsed from markup).
// A windowed list: only the rows on screen are in the DOM, so 100,000 files scroll smoothly.
// Written here rather than taken from a library: fixed row height is all the queue needs, and
// that is ~60 lines (see ./virtual-window.ts for the arithmetic).
import { useEffect, useLayoutEffect, useRef, useState, type ReactNode } from 'react';
import { visibleRows, type RowWindow } from './virtual-window';

export function VirtualList(props: {
  count: number;
  rowHeight: number;
  renderRow: (index: number) => ReactNode;
  onWindowChange?: (window: RowWindow) => void;
  label: string;
  testId?: string;
}) {
  const { count, rowHeight, renderRow, onWindowChange } = props;
  const viewport = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);

  useLayoutEffect(() => {
    const el = viewport.current;
    if (!el) return;
    setHeight(el.clientHeight);
    const observer = new ResizeObserver(() => setHeight(el.clientHeight));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);

  const win = visibleRows(scrollTop, height, rowHeight, count);
  useEffect(() => {
    onWindowChange?.({ start: win.start, end: win.end });
  }, [win.start, win.end, onWindowChange]);

  const rows: ReactNode[] = [];
  for (let i = win.start; i < win.end; i++) {
    rows.push(
      <div
        key={i}
        className="vrow"
        role="listitem"
        style={{ transform: `translateY(${i * rowHeight}px)`, height: rowHeight }}
      >
        {renderRow(i)}
      </div>,
    );
  }

  return (
    <div
      ref={viewport}
      className="vlist"
      tabIndex={0}
      role="list"
      aria-label={props.label}
      data-testid={props.testId}
      data-count={count}
      onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
    >
      <div className="vlist-spacer" style={{ height: count * rowHeight }}>
        {rows}
      </div>
    </div>
  );
}
