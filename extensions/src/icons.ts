import { LabIcon } from '@jupyterlab/ui-components';

const alphabookSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M3 19h18v2H3z"/>
    <path d="M5 17l4.5-6 3.5 3.5L19 6l1.6 1.2-7.4 9.9-3.5-3.5L6.6 18.2z"/>
  </g>
</svg>`;

const publishSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M5 20h14v-2H5v2zm0-10h4v6h6v-6h4l-7-7-7 7z"/>
  </g>
</svg>`;

export const alphabookIcon = new LabIcon({
  name: 'alphabook-jupyterlab:alphabook',
  svgstr: alphabookSvg
});

export const publishIcon = new LabIcon({
  name: 'alphabook-jupyterlab:publish',
  svgstr: publishSvg
});
