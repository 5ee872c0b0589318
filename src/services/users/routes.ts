import type { FastifyInstance } from 'fastify';
import { type Authenticator, burnPasswordCheck, hashPassword, type TokenStore, verifyPassword } from '../../lib/auth/index.ts';
import { appError, ERRORS } from '../../lib/errors/index.ts';
import { normalizeUserId } from '../../lib/http/schemas.ts';
import type { Counter } from '../../lib/metrics/index.ts';
import type { UsersConfig } from './config.ts';
import { allSchema, createSchema, deleteSchema, listSchema, loginSchema, logoutSchema, meSchema, rootSchema } from './schemas.ts';
import { toPublic, type UserStore } from './user-store.ts';

/** The `result` label values of `haddock_logins_total`. */
export const LOGIN_RESULTS = ['success', 'unknown_user', 'bad_password'] as const;
export type LoginResult = (typeof LOGIN_RESULTS)[number];

export interface UsersRouteOptions {
  readonly config: UsersConfig;
  readonly store: UserStore;
  readonly tokens: TokenStore;
  readonly auth: Authenticator;
  /** `haddock_logins_total{result}`. */
  readonly logins: Counter<'result'>;
}

export async function usersRoutes(
  app: FastifyInstance,
  { config, store, tokens, auth, logins }: UsersRouteOptions,
): Promise<void> {
  const counted = (result: LoginResult) => logins.inc({ result });

  app.get('/', { schema: rootSchema }, async () => ({ message: 'User Service Online' }));

  app.post<{ Body: { name: string; password: string } }>(
    '/users/login',
    { schema: loginSchema, config: { missingMessage: ERRORS.LOGIN_FIELDS_REQUIRED.message } },
    async (request) => {
      const { name, password } = request.body;
      if (name.trim() === '') throw appError('LOGIN_FIELDS_REQUIRED');
      const user = await store.findByName(name);
      if (user === null) {
        await burnPasswordCheck(password);
        counted('unknown_user');
        request.log.info({ result: 'unknown_user' }, 'login refused');
        throw appError('BAD_CREDENTIALS');
      }
      if (!(await verifyPassword(password, user.password_hash))) {
        counted('bad_password');
        request.log.info({ userId: user.id, result: 'bad_password' }, 'login refused');
        throw appError('BAD_CREDENTIALS');
      }
      const token = await tokens.issue(user.id);
      if (token === null) {
        // Deleted while its password was being checked: the account is gone, so are its credentials.
        counted('unknown_user');
        request.log.info({ userId: user.id, result: 'unknown_user' }, 'login refused: user deleted meanwhile');
        throw appError('BAD_CREDENTIALS');
      }
      counted('success');
      request.log.info({ userId: user.id, result: 'success' }, 'login succeeded');
      return { token, user_id: user.id };
    },
  );

  app.post('/users/logout', { schema: logoutSchema, onRequest: auth.requireUser }, async (request) => {
    const principal = request.principal;
    if (principal?.role !== 'user') throw appError('ADMIN_CANNOT_LOGOUT');
    await tokens.revoke(principal.token, principal.userId);
    request.log.info({ userId: principal.userId }, 'logout');
    return { message: 'Déconnexion réussie' };
  });

  app.get('/users', { schema: listSchema, onRequest: auth.requireUser }, async () => store.list());

  app.get('/users/me', { schema: meSchema, onRequest: auth.requireUser }, async (request) => {
    const principal = request.principal;
    if (principal?.role !== 'user') throw appError('ADMIN_NOT_A_USER');
    const user = await store.get(principal.userId);
    if (user === null) throw appError('USER_NOT_FOUND');
    return toPublic(user);
  });

  app.get('/users/all', { schema: allSchema, onRequest: auth.requireAdmin }, async () => {
    const users = await store.list();
    const sessions = await tokens.countSessions(users.map((u) => u.id));
    return users.map((user) => ({ ...user, active_sessions: sessions.get(user.id) ?? 0 }));
  });

  app.post<{ Body: { id: string | number; name: string; password?: string } }>(
    '/users',
    {
      schema: createSchema(config.minPasswordLength),
      onRequest: auth.requireAdmin,
      config: { missingMessage: ERRORS.USER_FIELDS_REQUIRED.message },
    },
    async (request, reply) => {
      const id = normalizeUserId(request.body.id);
      const name = request.body.name.trim();
      if (name === '') throw appError('USER_FIELDS_REQUIRED');
      if (request.body.password === undefined) throw appError('PASSWORD_REQUIRED');
      const result = await store.create(id, name, await hashPassword(request.body.password));
      if (result === 'ID_TAKEN') throw appError('USER_ID_TAKEN');
      if (result === 'NAME_TAKEN') throw appError('USER_NAME_TAKEN');
      request.log.info({ userId: id }, 'user added');
      reply.code(201);
      return { message: 'Utilisateur ajouté' };
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/users/:id',
    { schema: deleteSchema, onRequest: auth.requireAdmin },
    async (request) => {
      const { id } = request.params;
      const deleted = await store.delete(id, tokens.sessionsOf(id));
      if (!deleted) throw appError('USER_NOT_FOUND');
      request.log.info({ userId: id }, 'user deleted');
      return { message: 'Utilisateur supprimé' };
    },
  );
}
