/**
 * The one catalogue of error codes. Each code carries the HTTP status and the
 * French message clients see. Messages marked "contract" are compared whole by
 * existing clients of the original platform: never change their wording.
 */
export const ERRORS = {
  // contract
  LOGIN_FIELDS_REQUIRED: { status: 400, message: 'Nom et mot de passe sont requis' },
  BAD_CREDENTIALS: { status: 401, message: "Nom d'utilisateur ou mot de passe incorrect" },
  USER_FIELDS_REQUIRED: { status: 400, message: 'ID et nom sont requis' },
  QUOTE_FIELDS_REQUIRED: { status: 400, message: 'user_id et quote sont requis' },
  QUOTE_NOT_FOUND: { status: 404, message: 'Citation non trouvée' },
  KEYWORD_REQUIRED: { status: 400, message: 'Mot-clé requis' },
  // new in this platform
  AUTH_REQUIRED: { status: 401, message: 'Authentification requise' },
  TOKEN_INVALID: { status: 401, message: 'Jeton invalide ou expiré' },
  ADMIN_REQUIRED: { status: 403, message: 'Droits administrateur requis' },
  FORBIDDEN_OWNER: { status: 403, message: "Vous n'êtes pas l'auteur de cette citation" },
  FORBIDDEN_USER_ID: { status: 403, message: 'Vous ne pouvez publier que sous votre propre user_id' },
  USER_ID_TAKEN: { status: 409, message: 'Cet ID est déjà utilisé' },
  USER_NAME_TAKEN: { status: 409, message: 'Ce nom est déjà utilisé' },
  USER_NOT_FOUND: { status: 404, message: 'Utilisateur non trouvé' },
  PASSWORD_REQUIRED: { status: 400, message: 'Mot de passe requis' },
  QUOTE_TEXT_REQUIRED: { status: 400, message: 'quote est requis' },
  VALIDATION_FAILED: { status: 400, message: 'Requête invalide' },
  INVALID_JSON: { status: 400, message: 'Corps JSON invalide' },
  BODY_TOO_LARGE: { status: 413, message: 'Corps de requête trop volumineux' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Type de contenu non supporté (application/json attendu)' },
  ROUTE_NOT_FOUND: { status: 404, message: 'Route non trouvée' },
  METHOD_NOT_ALLOWED: { status: 405, message: 'Méthode non autorisée' },
  RATE_LIMITED: { status: 429, message: 'Trop de requêtes, réessayez plus tard' },
  REDIS_UNAVAILABLE: { status: 503, message: 'Service temporairement indisponible (base de données injoignable)' },
  REDIS_FULL: { status: 503, message: 'Service temporairement indisponible (base de données pleine)' },
  UPSTREAM_UNAVAILABLE: { status: 502, message: 'Service amont injoignable' },
  UPSTREAM_TIMEOUT: { status: 504, message: 'Service amont trop lent' },
  REQUEST_TIMEOUT: { status: 408, message: 'Requête trop lente à recevoir' },
  HEADERS_TOO_LARGE: { status: 431, message: 'En-têtes de requête trop volumineux' },
  URL_TOO_LONG: { status: 414, message: 'URL trop longue' },
  EXPECTATION_FAILED: { status: 417, message: 'En-tête Expect non pris en charge (seul 100-continue est accepté)' },
  SHUTTING_DOWN: { status: 503, message: "Service en cours d'arrêt, réessayez" },
  UNICODE_INVALID: { status: 400, message: 'Texte invalide : UTF-8 mal formé ou caractère Unicode incomplet' },
  TEXT_INVALID_CHARACTERS: { status: 400, message: 'Caractères interdits (caractères de contrôle ou de direction)' },
  QUOTE_ID_INVALID: { status: 400, message: 'Identifiant de citation invalide' },
  INTERNAL: { status: 500, message: 'Erreur interne du serveur' },
  ADMIN_CANNOT_LOGOUT: { status: 400, message: 'Une clé administrateur ne se déconnecte pas' },
  ADMIN_NOT_A_USER: { status: 400, message: "Une clé administrateur n'est pas un utilisateur" },
  // operations (the ops service and the `haddock` CLI, which prints `detail` and exits with the code's exit status)
  INCIDENT_NOT_FOUND: { status: 404, message: 'Incident non trouvé' },
  BACKUP_NOT_FOUND: { status: 404, message: 'Sauvegarde non trouvée' },
  MAINTENANCE_NOT_FOUND: { status: 404, message: 'Fenêtre de maintenance non trouvée' },
  ALERT_PAYLOAD_INVALID: { status: 400, message: 'Charge utile Alertmanager invalide' },
  WINDOW_INVALID: { status: 400, message: 'Fenêtre de temps invalide (30m, 24h, 7d)' },
  DURATION_INVALID: { status: 400, message: 'Durée invalide (30m, 2h, 1h30m ; 24 h au plus)' },
  URL_INVALID: { status: 400, message: 'URL invalide' },
  USAGE_INVALID: { status: 400, message: 'Arguments invalides' },
  BACKUP_DRILL_FAILED: { status: 500, message: "La restauration d'essai de la sauvegarde a échoué" },
  BACKUP_IN_PROGRESS: { status: 409, message: 'Une sauvegarde, une restauration ou un nettoyage est déjà en cours' },
  RESTORE_CANCELLED: { status: 409, message: 'Restauration annulée' },
  CHECK_FAILED: { status: 500, message: 'La vérification de maintenance a échoué' },
  FILE_NOT_WRITABLE: { status: 500, message: 'Fichier impossible à écrire' },
  LOG_DIR_NOT_FOUND: { status: 404, message: 'Répertoire des journaux introuvable' },
  MAINTENANCE_ID_AMBIGUOUS: { status: 409, message: 'Identifiant de fenêtre de maintenance ambigu' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** What an error carries besides its code: the error it wraps, and what an operator needs to act on it. */
export interface AppErrorOptions {
  readonly cause?: unknown;
  /**
   * For operators, never for API clients: the CLI prints it (`no backup named X`), logs may carry it; the HTTP
   * error handler answers the catalogue message only, so ids and internals stay out of response bodies.
   */
  readonly detail?: string;
}

/**
 * The one error class, in every layer: services answer it with its own status and a `{"error": message}` body;
 * the CLI prints its `detail` and exits with the status its entry maps the code to.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly detail: string | undefined;

  constructor(code: ErrorCode, message?: string, statusCode?: number, options?: AppErrorOptions) {
    super(message ?? ERRORS[code].message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.statusCode = statusCode ?? ERRORS[code].status;
    this.detail = options?.detail;
  }
}

/** Shorthand for the catalogue's own message and status: `throw appError('BACKUP_NOT_FOUND', { detail })`. */
export function appError(code: ErrorCode, options?: AppErrorOptions): AppError {
  return new AppError(code, undefined, undefined, options);
}

/** The JSON body every error answer carries: one `error` key, as the original platform. */
export function errorBody(message: string): { error: string } {
  return { error: message };
}
