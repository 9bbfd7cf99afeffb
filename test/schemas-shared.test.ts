// A whole server compiles one serializer per distinct response schema and one validator per
// request part and distinct schema (src/http/serialization.ts, validation.ts). fastify-openapi-glue
// hands every route its own clone of each schema, and Fastify asks for a serializer per route,
// status code and media type: before the sharing, 812 serializers were compiled at start for 26
// distinct schemas, each kept for the server's life in the old generation that every full
// collection marks (bench/README.md). test/unit-serialization.test.ts checks the mechanism; this
// checks that the server as built goes through it, for both versions of the contract.
import t from 'tap';
import { buildApp } from '../src/http/app.ts';
import { serializerCounts } from '../src/http/serialization.ts';
import { validatorCounts } from '../src/http/validation.ts';
import { spec, specV2 } from './helpers/contract.ts';
import { offlineAppOptions } from './helpers/offline-app.ts';

t.test("the server's routes share their serializers and validators", async (t) => {
  t.same(serializerCounts(), { asked: 0, compiled: 0 }, 'nothing compiled before the server is built');
  const app = await buildApp(offlineAppOptions());
  t.teardown(() => app.close());
  await app.ready();

  // What the two contracts declare: a response schema per operation, status and media type.
  let declared = 0;
  for (const document of [spec, specV2] as any[]) {
    for (const item of Object.values(document.paths ?? {}) as any[]) {
      for (const operation of Object.values(item) as any[]) {
        for (const given of Object.values(operation?.responses ?? {}) as any[]) {
          const response = typeof given?.$ref === 'string' ? document.components.responses[given.$ref.split('/').at(-1)] : given;
          declared += Object.keys(response?.content ?? {}).length;
        }
      }
    }
  }
  t.ok(declared > 300, `the contracts declare ${declared} response schemas (an operation's each status and media type)`);

  const serializers = serializerCounts();
  t.ok(serializers.asked >= declared, `Fastify asked for a serializer of each (${serializers.asked})`);
  t.ok(serializers.compiled > 10, `and got more than a handful of distinct ones (${serializers.compiled})`);
  t.ok(serializers.compiled * 10 < serializers.asked, `compiled once per distinct schema: ${serializers.compiled} for ${serializers.asked} asked`);

  const validators = validatorCounts();
  t.ok(validators.asked > 100, `Fastify asked for a validator of each route's request parts (${validators.asked})`);
  t.ok(validators.compiled > 10, `${validators.compiled} compiled`);
  t.ok(validators.compiled * 2 < validators.asked, `once per part and distinct schema: ${validators.compiled} for ${validators.asked} asked`);
});
