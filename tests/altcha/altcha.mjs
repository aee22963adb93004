// Runs the official ALTCHA library (protocol v1, what the browser widget speaks) for
// tests/altcha_interop.rs. One command per call, JSON or base64 on stdout:
//   node altcha.mjs solve            < challenge JSON   -> solution token (base64)
//   node altcha.mjs create KEY MAX EXPIRES_UNIX          -> challenge JSON made by altcha-lib
//   node altcha.mjs verify KEY       < solution token    -> "true" or "false"
import { createChallenge, solveChallenge, verifySolution } from 'altcha-lib/v1';

const [command, ...args] = process.argv.slice(2);
const input = async () => {
  let text = '';
  for await (const chunk of process.stdin) text += chunk;
  return text.trim();
};

if (command === 'solve') {
  const challenge = JSON.parse(await input());
  const started = Date.now();
  const solution = await solveChallenge(challenge.challenge, challenge.salt, challenge.algorithm, challenge.maxnumber).promise;
  if (!solution) throw new Error('no solution below maxnumber');
  const payload = {
    algorithm: challenge.algorithm,
    challenge: challenge.challenge,
    number: solution.number,
    salt: challenge.salt,
    signature: challenge.signature,
    took: Date.now() - started,
  };
  process.stdout.write(Buffer.from(JSON.stringify(payload)).toString('base64'));
} else if (command === 'create') {
  const [hmacKey, maxnumber, expires] = args;
  const challenge = await createChallenge({
    hmacKey,
    maxnumber: Number(maxnumber),
    expires: new Date(Number(expires) * 1000),
  });
  process.stdout.write(JSON.stringify(challenge));
} else if (command === 'verify') {
  process.stdout.write(String(await verifySolution(await input(), args[0])));
} else {
  console.error('usage: node altcha.mjs solve|create|verify ...');
  process.exit(2);
}
