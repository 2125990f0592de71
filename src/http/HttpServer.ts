/** The REST front door: `VigilApi` served on `PORT`, with the docs pages, the event stream, the FHIR R4 API and `/metrics` beside it. */
import { Config, Context, Effect, Layer } from "effect"
import { listenPort } from "../domain/ConfigValues.ts"
import { VigilApi } from "./Api.ts"
import * as ApiServer from "./server/ApiServer.ts"
import { AccessControl } from "../services/AccessControl.ts"
import type { AppointmentRepo } from "../persistence/AppointmentRepo.ts"
import { policies } from "./Policies.ts"
import * as AsyncApiDoc from "./AsyncApiDoc.ts"
import * as AuditHttp from "./AuditHttp.ts"
import * as CareHttp from "./CareHttp.ts"
import * as Dashboard from "./Dashboard.ts"
import * as DevicesHttp from "./DevicesHttp.ts"
import * as Docs from "./Docs.ts"
import * as EventStream from "./EventStream.ts"
import * as FhirHttp from "./FhirHttp.ts"
import * as HealthHttp from "./HealthHttp.ts"
import * as MetricsHttp from "./MetricsHttp.ts"
import { MetricsEnabled, observeHttp } from "../observability/Metrics.ts"
import { TracingEnabled } from "../observability/Tracing.ts"
import * as AuthHttp from "./AuthHttp.ts"
import * as MlRegistryHttp from "./MlRegistryHttp.ts"
import * as MonitoringHttp from "./MonitoringHttp.ts"
import * as PainkillerHttp from "./PainkillerHttp.ts"
import * as PatientsHttp from "./PatientsHttp.ts"
import * as SchedulingHttp from "./SchedulingHttp.ts"
import * as ThresholdsHttp from "./ThresholdsHttp.ts"

export const HttpConfig = Config.all({
  port: listenPort("PORT", 8000),
  host: Config.string("HOST").pipe(Config.withDefault("0.0.0.0")),
  bodyLimit: Config.integer("HTTP_BODY_LIMIT").pipe(Config.withDefault(1024 * 1024))
})

export class HttpServer extends Context.Tag("vigil/HttpServer")<HttpServer, { readonly port: number }>() {}

export const layer = Layer.scoped(
  HttpServer,
  Effect.gen(function*() {
    const config = yield* HttpConfig
    const handlers = {
      health: yield* HealthHttp.make,
      patients: yield* PatientsHttp.make,
      devices: yield* DevicesHttp.make,
      thresholds: yield* ThresholdsHttp.make,
      audit: yield* AuditHttp.make,
      monitoring: yield* MonitoringHttp.make,
      painkiller: yield* PainkillerHttp.make,
      ...(yield* CareHttp.make),
      ...(yield* SchedulingHttp.make),
      mlServices: (yield* MlRegistryHttp.make).mlServices,
      auth: yield* AuthHttp.make
    }
    const eventStream = yield* EventStream.make
    const fhir = yield* FhirHttp.make
    const asyncApi = yield* AsyncApiDoc.route
    const metrics = (yield* MetricsEnabled) ? [yield* MetricsHttp.make] : []
    const control = yield* AccessControl
    const { port } = yield* ApiServer.serve<typeof VigilApi, never, AppointmentRepo>(VigilApi, handlers, {
      policies,
      access: control.required ? control : undefined,
      port: config.port,
      host: config.host,
      bodyLimit: config.bodyLimit,
      rawRoutes: [...Docs.routes(), ...Dashboard.routes(), asyncApi, eventStream, ...fhir, ...metrics],
      observe: metrics.length > 0 ? observeHttp : undefined,
      traced: yield* TracingEnabled
    })
    return { port }
  })
)
