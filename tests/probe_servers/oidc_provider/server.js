// node oidc-provider (version pinned in package.json / package-lock.json) for tokenlab's probe
// tests. Binds 127.0.0.1 on a free port, mints FAMILIES independent refresh tokens (one Grant
// each) through the provider's own models, prints them as `key = value` lines (the format
// `tokenlab serve` uses) and serves until killed.
//
//   node server.js --families N --rotate true|false [--at-ttl SECONDS]
//
// Ground truth of the configurations: a consumed (rotated) refresh token presented again is
// rejected and its whole grant revoked (lib/actions/grants/refresh_token.js, always on, no grace
// window); `rotateRefreshToken` switches rotation.
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const families = Number(args.families ?? 4);
const rotate = (args.rotate ?? 'true') === 'true';
const atTtl = Number(args['at-ttl'] ?? 300);
const clientId = 'probe-client';
const clientSecret = crypto.randomBytes(24).toString('hex');

const server = http.createServer();
server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ['authorization_code', 'refresh_token'],
      redirect_uris: ['http://127.0.0.1/cb'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    rotateRefreshToken: rotate,
    ttl: { AccessToken: atTtl, RefreshToken: 3600, Grant: 3600 },
    findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => ({ sub }) }),
  });
  // silence the development-only warnings on stdout/stderr noise is fine; errors still log
  const client = await provider.Client.find(clientId);
  const tokens = [];
  for (let i = 0; i < families; i += 1) {
    const grant = new provider.Grant({ accountId: `user${i}`, clientId });
    grant.addOIDCScope('openid offline_access');
    const grantId = await grant.save();
    const rt = new provider.RefreshToken({
      accountId: `user${i}`, client, grantId, scope: 'openid offline_access', gty: 'authorization_code',
    });
    tokens.push(await rt.save());
  }
  server.on('request', provider.callback());
  const out = [
    `oidc-provider on ${issuer} (rotateRefreshToken ${rotate}, access token ttl ${atTtl} s)`,
    `  token_endpoint = ${issuer}/token`,
    `  client_id = ${clientId}`,
    `  client_secret = ${clientSecret}`,
    ...tokens.map((t) => `  refresh_token = ${t}`),
    'serving until killed',
  ];
  process.stdout.write(`${out.join('\n')}\n`);
});
