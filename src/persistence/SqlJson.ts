/**
 * JSON that PostgreSQL builds in the statement that writes the rows it shows (events, audit rows),
 * exactly as Vigil writes the same values from JavaScript: SQL text built from trusted names only.
 */
import { Option, type Schema, SchemaAST as AST } from "effect"
import { SOURCE } from "../domain/Events.ts"

/** `expr` (a timestamptz) as `Date.prototype.toISOString` writes it: UTC, milliseconds, `Z`. */
export const isoMillis = (expr: string): string => `to_char(${expr} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`

/**
 * An entity as JSON, as `ChangeLog.snapshot` writes its decoded value: every field of `fields`
 * from the row `alias` (the field names are the columns'), dates by `isoMillis`.
 */
export const jsonView = (fields: Schema.Struct.Fields, alias: string): string => {
  const isDate = (ast: AST.AST): boolean =>
    AST.isDeclaration(ast) ? AST.getIdentifierAnnotation(ast).pipe(Option.exists((id) => id === "DateFromSelf")) :
    AST.isUnion(ast) ? ast.types.some(isDate) :
    AST.isRefinement(ast) ? isDate(ast.from) :
    false
  const pairs = Object.entries(fields).map(([name, field]) => {
    const column = `${alias}."${name}"`
    return `'${name}', ${isDate((field as Schema.Schema.Any).ast) ? isoMillis(column) : column}`
  })
  return `jsonb_build_object(${pairs.join(", ")})`
}

/** A CloudEvent envelope (domain/Events.ts's `CloudEvent`), each argument a SQL expression. */
export const cloudEvent = (e: { readonly id: string; readonly type: string; readonly time: string; readonly subject: string; readonly data: string }): string =>
  `jsonb_build_object('specversion', '1.0', 'id', ${e.id}, 'source', '${SOURCE}', 'type', ${e.type}, 'time', ${e.time},
    'subject', ${e.subject}, 'datacontenttype', 'application/json', 'data', ${e.data})`
