/** `proto/registry.proto` loaded the same way for the benchmark's clients and its bare gRPC server. */
import * as grpc from "@grpc/grpc-js"
import * as protoLoader from "@grpc/proto-loader"
import { fileURLToPath } from "node:url"

export const REGISTRY_PROTO = fileURLToPath(new URL("../proto/registry.proto", import.meta.url))

export interface GetPatientRequest {
  readonly version: string
  readonly patient_id: string
}

/** A decoded `GetPatientResponse`, as proto-loader gives it (enums as strings, defaults filled). */
export interface GetPatientResponse {
  readonly version: string
  readonly status: string
  readonly timestamp: string
  readonly patient?: unknown
}

export interface RegistryClient extends grpc.Client {
  GetPatient(
    request: GetPatientRequest,
    options: grpc.CallOptions,
    callback: grpc.requestCallback<GetPatientResponse>
  ): grpc.ClientUnaryCall
}

export interface RegistryClientConstructor {
  new(address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions): RegistryClient
  readonly service: grpc.ServiceDefinition
}

export const loadRegistry = (): RegistryClientConstructor => {
  const definition = protoLoader.loadSync(REGISTRY_PROTO, { keepCase: true, longs: String, enums: String, defaults: true })
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    readonly registry: { readonly Registry: RegistryClientConstructor }
  }
  return loaded.registry.Registry
}
