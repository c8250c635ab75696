import type { DatabaseSync } from 'node:sqlite';

/** Runs `write` in one transaction: committed whole, or rolled back and the error rethrown. */
export function inTransaction(db: DatabaseSync, write: () => void): void {
  db.exec('BEGIN');
  try {
    write();
    db.exec('COMMIT');
  } catch (err) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw err;
  }
}
