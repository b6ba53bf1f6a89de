"use server";

import { z } from "zod";

// The rules of the marshmallow schema of the Flask contenders
// (benchmarks/apps/common.py): what a form leaves out gets its default.
const Todo = z.object({
  title: z.string().min(1).max(200),
  priority: z.coerce.number().int().min(1).max(5).default(2),
  done: z.stringbool().default(false),
});

// The newest todos, in memory; bounded, since a benchmark adds many.
const todos = [];
const KEPT = 1000;

function field(formData, name) {
  const value = formData.get(name);
  return value === null || value === "" ? undefined : value;
}

export async function addTodo(previousState, formData) {
  const submitted = {
    title: formData.get("title") ?? undefined,
    priority: field(formData, "priority"),
    done: field(formData, "done"),
  };
  const parsed = Todo.safeParse(submitted);
  if (!parsed.success) {
    return {
      ok: false,
      errors: z.flattenError(parsed.error).fieldErrors,
      values: submitted,
    };
  }
  todos.push(parsed.data);
  if (todos.length > KEPT) todos.splice(0, todos.length - KEPT);
  return { ok: true, message: `Added ${parsed.data.title}.`, todo: parsed.data };
}
