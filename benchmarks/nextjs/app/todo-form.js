"use client";

import { useActionState } from "react";
import { addTodo } from "./actions";

function Errors({ messages }) {
  return (messages ?? []).map((message) => (
    <p className="error" key={message}>
      {message}
    </p>
  ));
}

export function TodoForm() {
  const [state, formAction, pending] = useActionState(addTodo, null);
  const values = state?.ok === false ? state.values : {};
  return (
    <>
      {state?.ok && <p role="status">{state.message}</p>}
      <form action={formAction}>
        <input name="title" defaultValue={values.title ?? ""} />
        <Errors messages={state?.errors?.title} />
        <input name="priority" defaultValue={values.priority ?? "2"} />
        <Errors messages={state?.errors?.priority} />
        <button disabled={pending}>Add</button>
      </form>
    </>
  );
}
