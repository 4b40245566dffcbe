/**
 * Small file-system helpers shared by the entry point and the controller.
 */
import { stat } from 'node:fs/promises';

/** Whether something exists at `path` (any kind of file). */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
