/* Evaluated in the HTML report by tests/browser.py: what a reader of
 * the charts would notice, as data.
 *   clipped: text whose box is not inside its SVG
 *   backwards: series lines whose points do not go left to right
 *   markers: per knee chart, the step markers and their labels
 *   axes: per chart, its axis labels */
(() => {
  const out = { clipped: [], backwards: [], markers: {}, axes: {} };
  for (const svg of document.querySelectorAll('svg.chart')) {
    const box = svg.getBoundingClientRect();
    for (const t of svg.querySelectorAll('text')) {
      const r = t.getBoundingClientRect();
      if (r.left < box.left - 0.5 || r.right > box.right + 0.5 ||
          r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5)
        out.clipped.push(svg.id + ': ' + t.textContent);
    }
    for (const pl of svg.querySelectorAll('g.series polyline')) {
      const xs = pl.getAttribute('points').trim().split(/\s+/)
        .map(p => parseFloat(p.split(',')[0]));
      for (let i = 1; i < xs.length; i++)
        if (xs[i] < xs[i - 1]) {
          out.backwards.push(svg.id + ': ' + pl.parentNode.dataset.name);
          break;
        }
    }
    out.markers[svg.id] = [...svg.querySelectorAll('g.step-marker')].map(
      g => g.dataset.kind + ':' + (g.querySelector('text') ?
                                   g.querySelector('text').textContent : ''));
    out.axes[svg.id] = [...svg.querySelectorAll('text.xl, text.yl')]
      .map(t => t.textContent);
  }
  return out;
})()
