import { TodoForm } from "./todo-form";

export default function Page() {
  return <TodoForm />;
}
