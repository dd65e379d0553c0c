/* Placeholder until this module's tests land. */
int main(void) { return 0; }
