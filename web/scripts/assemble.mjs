// Copies the static files next to the compiled modules: web/dist is what
// the API serves (ApiOptions::web_root).
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');
mkdirSync(join(web, 'dist'), { recursive: true });
for (const file of ['index.html', 'app.css']) copyFileSync(join(web, file), join(web, 'dist', file));
