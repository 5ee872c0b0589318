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
  UPSTREAM_UNAVAILABLE: { status: 502, message: 'Service amont injoignable' },
  UPSTREAM_TIMEOUT: { status: 504, message: 'Service amont trop lent' },
  INTERNAL: { status: 500, message: 'Erreur interne du serveur' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

/** An error the API answers with its own status and a `{"error": message}` body. */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;

  constructor(code: ErrorCode, message?: string, statusCode?: number, options?: { cause?: unknown }) {
    super(message ?? ERRORS[code].message, options);
    this.name = 'AppError';
    this.code = code;
    this.statusCode = statusCode ?? ERRORS[code].status;
  }
}

/** Shorthand for the catalogue's own message and status. */
export function appError(code: ErrorCode, options?: { cause?: unknown }): AppError {
  return new AppError(code, undefined, undefined, options);
}

/** The JSON body every error answer carries: one `error` key, as the original platform. */
export function errorBody(message: string): { error: string } {
  return { error: message };
}
