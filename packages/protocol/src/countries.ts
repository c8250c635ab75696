/**
 * ISO 3166-1 alpha-2, the codes crawlers target and households claim, plus XK (Kosovo), which
 * GeoIP databases use. A code outside the list would name a country pool no relay can join.
 */
const CODES = new Set(
  `AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS
  BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG
  EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR
  HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR
  LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG
  NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE
  SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA
  UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW`.split(/\s+/),
);

/** Codes people write for a country whose ISO code is another. */
const MISTAKES: Record<string, string> = { UK: 'GB', EL: 'GR', EU: '' };

const names = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'none' });

/** The country's English name, or the code itself when it has none. */
export function countryName(code: string): string {
  return (CODES.has(code) ? names.of(code) : undefined) ?? code;
}

/**
 * Why `code` (any case) is not a country a relay can be in, in words that show the right code;
 * undefined when it is one.
 */
export function countryCodeProblem(code: string): string | undefined {
  const upper = code.toUpperCase();
  if (/^[A-Z]{2}$/.test(upper) && CODES.has(upper)) return undefined;
  const meant = MISTAKES[upper];
  if (meant === '') return `"${code}" is not a country; give one ISO 3166-1 alpha-2 code like DE`;
  if (meant != null)
    return `"${code}" is not an ISO 3166-1 alpha-2 code: the code for ${countryName(meant)} is ${meant}`;
  return `"${code}" is not an ISO 3166-1 alpha-2 country code (e.g. DE, GB, US)`;
}
