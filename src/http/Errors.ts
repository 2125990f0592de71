/**
 * The HTTP error answers, each a yieldable error whose wire form is FastAPI's `{"detail": "..."}`
 * and whose status travels with its schema, so the server and the OpenAPI document agree.
 */
import { HttpApiSchema } from "@effect/platform"
import { Schema } from "effect"

const DetailBody = Schema.Struct({ detail: Schema.String })

const detailError = <Self extends { readonly detail: string }, I>(
  errorClass: Schema.Schema<Self, I> & {
    new(props: { readonly detail: string }): Self
  },
  status: number,
  description: string
) =>
  Schema.transform(DetailBody, Schema.typeSchema(errorClass), {
    strict: true,
    decode: (body) => new errorClass({ detail: body.detail }),
    encode: (error) => ({ detail: error.detail })
  }).annotations(HttpApiSchema.annotations({ status, description }))

export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", { detail: Schema.String }) {}
export const NotFoundResponse = detailError(NotFound, 404, "No such record")

export class Conflict extends Schema.TaggedError<Conflict>()("Conflict", { detail: Schema.String }) {}
export const ConflictResponse = detailError(Conflict, 409, "The request conflicts with an existing record")

export class ServiceUnavailable extends Schema.TaggedError<ServiceUnavailable>()("ServiceUnavailable", { detail: Schema.String }) {}
export const ServiceUnavailableResponse = detailError(ServiceUnavailable, 503, "A dependency (the database) is unavailable; nothing was stored, retry later")
