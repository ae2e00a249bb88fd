/**
 * Readable labels for the camelCase keys of summary.json that the report shows (audit facts,
 * setup data): a label per known key, and for any other key its words (`usersTried` → "users
 * tried", `dbRows` → "PostgreSQL: rows", `answered201` → "answered 201").
 */

const LABELS: Readonly<Record<string, string>> = {
  // coupon-drop audit
  quantity: 'coupon quantity (Q)',
  remaining: 'remaining, as the API reports it',
  granted: "units granted (entries in users' lists)",
  holders: 'users holding the coupon',
  usersTried: 'users who tried',
  usersWithDefiniteAnswer: 'users with a definite answer',
  usersWithUnknownOutcome: 'users whose outcome is unknown (no answer)',
  answered201: 'answered 201',
  answered410: 'answered 410 SOLD_OUT',
  soldOut: 'sold out',
  dbRows: 'PostgreSQL: user_coupons rows',
  dbDistinctUsers: 'PostgreSQL: distinct holders',
  dbIssuedCount: 'PostgreSQL: coupons.issued_count',
  dbDuplicatedUsers: 'PostgreSQL: users holding it twice',
  // checkout audit
  products: 'products',
  initialStockTotal: 'initial stock, all products',
  soldUnits: "units sold (in users' orders)",
  serverOrders: 'orders listed through the API',
  usersPointsChecked: 'users whose balance was checked',
  apiBalanceTotal: "sum of the users' balances (API)",
  dbOrders: "PostgreSQL: orders of the drill's users",
  dbPaidTotal: "PostgreSQL: sum of those orders' totals",
  dbBalanceTotal: "PostgreSQL: sum of the users' wallet balances",
  dbProductsOff: 'PostgreSQL: products with stock off',
  dbWalletsOff: 'PostgreSQL: wallets ≠ their ledger',
  dbOrdersWithCoupon: 'PostgreSQL: orders with a coupon (all)',
  dbCouponsUsed: 'PostgreSQL: user coupons USED (all)',
  // browse audit
  listPages: 'catalog pages read',
  // setup data
  couponId: 'coupon id',
  users: 'users',
  retryShare: 'retry share',
  stockPerProduct: 'stock per product',
  pointsPerUser: 'points per user',
};

/** The label of a summary.json key. */
export function label(key: string): string {
  const known = LABELS[key];
  if (known) return known;
  const db = /^db(?=[A-Z])/.test(key);
  const words = (db ? key.slice(2) : key)
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .replace(/([A-Za-z])(\d)/g, '$1 $2')
    .replace(/_/g, ' ')
    .toLowerCase();
  return db ? `PostgreSQL: ${words}` : words;
}

/** A fact's value as shown: yes / no for booleans, numbers and text as they are. */
export function valueText(v: number | string | boolean): string {
  return typeof v === 'boolean' ? (v ? 'yes' : 'no') : String(v);
}
